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

resource "aws_lambda_layer_version" "org_common" {
  layer_name               = "${var.project_name}-${var.environment}-org-common"
  filename                 = "${local.build_dir}/org-common-layer.zip"
  source_code_hash         = filebase64sha256("${local.build_dir}/org-common-layer.zip")
  compatible_runtimes      = ["python3.13"]
  compatible_architectures = ["x86_64"]
  description              = "Shared org_common package for CORA Lambdas"
}

resource "aws_lambda_function" "profiles" {
  function_name    = "${var.project_name}-${var.environment}-${var.module_name}-profiles"
  filename         = "${local.build_dir}/profiles.zip"
  source_code_hash = filebase64sha256("${local.build_dir}/profiles.zip")
  runtime          = "python3.13"
  architectures    = ["x86_64"]
  handler          = "lambda_function.lambda_handler"
  role             = aws_iam_role.lambda.arn
  timeout          = 15
  memory_size      = 256
  layers           = [aws_lambda_layer_version.org_common.arn]

  environment {
    variables = {
      LOG_LEVEL           = var.log_level
      SUPABASE_SECRET_ARN = var.supabase_secret_arn
    }
  }

  tags = var.common_tags
}

resource "aws_lambda_function" "orgs" {
  function_name    = "${var.project_name}-${var.environment}-${var.module_name}-orgs"
  filename         = "${local.build_dir}/orgs.zip"
  source_code_hash = filebase64sha256("${local.build_dir}/orgs.zip")
  runtime          = "python3.13"
  architectures    = ["x86_64"]
  handler          = "lambda_function.lambda_handler"
  role             = aws_iam_role.lambda.arn
  timeout          = 15
  memory_size      = 256
  layers           = [aws_lambda_layer_version.org_common.arn]

  environment {
    variables = {
      LOG_LEVEL           = var.log_level
      SUPABASE_SECRET_ARN = var.supabase_secret_arn
    }
  }

  tags = var.common_tags
}

resource "aws_lambda_function" "members" {
  function_name    = "${var.project_name}-${var.environment}-${var.module_name}-members"
  filename         = "${local.build_dir}/members.zip"
  source_code_hash = filebase64sha256("${local.build_dir}/members.zip")
  runtime          = "python3.13"
  architectures    = ["x86_64"]
  handler          = "lambda_function.lambda_handler"
  role             = aws_iam_role.lambda.arn
  timeout          = 15
  memory_size      = 256
  layers           = [aws_lambda_layer_version.org_common.arn]

  environment {
    variables = {
      LOG_LEVEL           = var.log_level
      SUPABASE_SECRET_ARN = var.supabase_secret_arn
    }
  }

  tags = var.common_tags
}

resource "aws_lambda_function" "org_email_domains" {
  function_name    = "${var.project_name}-${var.environment}-${var.module_name}-org-email-domains"
  filename         = "${local.build_dir}/org-email-domains.zip"
  source_code_hash = filebase64sha256("${local.build_dir}/org-email-domains.zip")
  runtime          = "python3.13"
  architectures    = ["x86_64"]
  handler          = "lambda_function.lambda_handler"
  role             = aws_iam_role.lambda.arn
  timeout          = 15
  memory_size      = 256
  layers           = [aws_lambda_layer_version.org_common.arn]

  environment {
    variables = {
      LOG_LEVEL           = var.log_level
      SUPABASE_SECRET_ARN = var.supabase_secret_arn
    }
  }

  tags = var.common_tags
}
