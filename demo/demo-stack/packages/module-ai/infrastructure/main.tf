locals {
  build_dir = "${path.module}/../backend/.build"
}

resource "aws_iam_role" "lambda" {
  name = "${var.project_name}-${var.environment}-${var.module_name}-lambda-role"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.common_tags
}

resource "aws_iam_role_policy_attachment" "basic_execution" {
  role       = aws_iam_role.lambda.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_iam_role_policy" "read_supabase_secret" {
  name = "read-supabase-secret"
  role = aws_iam_role.lambda.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "secretsmanager:GetSecretValue"
      Resource = var.supabase_secret_arn
    }]
  })
}

resource "aws_lambda_layer_version" "ai_common" {
  layer_name               = "${var.project_name}-${var.environment}-ai-common"
  filename                 = "${local.build_dir}/ai-common-layer.zip"
  source_code_hash         = filebase64sha256("${local.build_dir}/ai-common-layer.zip")
  compatible_runtimes      = ["python3.13"]
  compatible_architectures = ["x86_64"]
  description              = "Shared ai_common package for the AI module"
}

resource "aws_lambda_function" "ai_config" {
  function_name    = "${var.project_name}-${var.environment}-${var.module_name}-ai-config"
  filename         = "${local.build_dir}/ai-config.zip"
  source_code_hash = filebase64sha256("${local.build_dir}/ai-config.zip")
  runtime          = "python3.13"
  architectures    = ["x86_64"]
  handler          = "lambda_function.lambda_handler"
  role             = aws_iam_role.lambda.arn
  timeout          = 15
  memory_size      = 256
  layers           = [var.org_common_layer_arn, aws_lambda_layer_version.ai_common.arn]

  environment {
    variables = {
      LOG_LEVEL           = var.log_level
      SUPABASE_SECRET_ARN = var.supabase_secret_arn
    }
  }

  tags = var.common_tags
}

resource "aws_lambda_function" "provider" {
  function_name    = "${var.project_name}-${var.environment}-${var.module_name}-provider"
  filename         = "${local.build_dir}/provider.zip"
  source_code_hash = filebase64sha256("${local.build_dir}/provider.zip")
  runtime          = "python3.13"
  architectures    = ["x86_64"]
  handler          = "lambda_function.lambda_handler"
  role             = aws_iam_role.lambda.arn
  timeout          = 10
  memory_size      = 256
  layers           = [var.org_common_layer_arn, aws_lambda_layer_version.ai_common.arn]

  environment {
    variables = {
      LOG_LEVEL           = var.log_level
      SUPABASE_SECRET_ARN = var.supabase_secret_arn
    }
  }

  tags = var.common_tags
}
