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

resource "aws_iam_role_policy" "inspect_lambdas" {
  name = "inspect-project-lambdas"
  role = aws_iam_role.lambda.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      # ListFunctions does not support resource-level permissions.
      Effect   = "Allow"
      Action   = ["lambda:ListFunctions"]
      Resource = "*"
    }]
  })
}

resource "aws_lambda_layer_version" "mgmt_common" {
  layer_name               = "${var.project_name}-${var.environment}-mgmt_common"
  filename                 = "${local.build_dir}/mgmt_common-layer.zip"
  source_code_hash         = filebase64sha256("${local.build_dir}/mgmt_common-layer.zip")
  compatible_runtimes      = ["python3.13"]
  compatible_architectures = ["x86_64"]
  description              = "Shared mgmt_common package for the management module"
}

resource "aws_lambda_function" "lambda_mgmt" {
  function_name    = "${var.project_name}-${var.environment}-${var.module_name}-lambda-mgmt"
  filename         = "${local.build_dir}/lambda-mgmt.zip"
  source_code_hash = filebase64sha256("${local.build_dir}/lambda-mgmt.zip")
  runtime          = "python3.13"
  architectures    = ["x86_64"]
  handler          = "lambda_function.lambda_handler"
  role             = aws_iam_role.lambda.arn
  timeout          = 30
  memory_size      = 256
  layers           = [var.org_common_layer_arn, aws_lambda_layer_version.mgmt_common.arn]

  environment {
    variables = {
      LOG_LEVEL           = var.log_level
      SUPABASE_SECRET_ARN = var.supabase_secret_arn
      LAMBDA_NAME_PREFIX  = "${var.project_name}-${var.environment}-"
    }
  }

  tags = var.common_tags
}
