locals {
  authorizer_zip = "${path.module}/../../build/authorizer.zip"
}

# Supabase credentials, read by every module Lambda

resource "aws_secretsmanager_secret" "supabase" {
  name                    = "${var.project_name}-${var.environment}-supabase"
  description             = "Supabase URL and service role key"
  recovery_window_in_days = 0
  tags                    = var.common_tags
}

resource "aws_secretsmanager_secret_version" "supabase" {
  secret_id = aws_secretsmanager_secret.supabase.id
  secret_string = jsonencode({
    url              = var.supabase_url
    service_role_key = var.supabase_service_role_key
  })
}

# Stack modules

module "module_access" {
  source = "../../../demo-stack/packages/module-access/infrastructure"

  project_name        = var.project_name
  environment         = "dev"
  module_name         = "access"
  aws_region          = var.aws_region
  supabase_secret_arn = aws_secretsmanager_secret.supabase.arn
  log_level           = var.log_level
  common_tags         = var.common_tags
}

module "module_ai" {
  source = "../../../demo-stack/packages/module-ai/infrastructure"

  project_name         = var.project_name
  environment          = "dev"
  module_name          = "ai"
  aws_region           = var.aws_region
  supabase_secret_arn  = aws_secretsmanager_secret.supabase.arn
  log_level            = var.log_level
  common_tags          = var.common_tags
  org_common_layer_arn = module.module_access.org_common_layer_arn
}

module "module_mgmt" {
  source = "../../../demo-stack/packages/module-mgmt/infrastructure"

  project_name         = var.project_name
  environment          = "dev"
  module_name          = "mgmt"
  aws_region           = var.aws_region
  supabase_secret_arn  = aws_secretsmanager_secret.supabase.arn
  log_level            = var.log_level
  common_tags          = var.common_tags
  org_common_layer_arn = module.module_access.org_common_layer_arn
}

# API Gateway authorizer (owned by infra)

resource "aws_iam_role" "authorizer" {
  name = "${var.project_name}-${var.environment}-authorizer-role"

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

resource "aws_iam_role_policy_attachment" "authorizer_basic_execution" {
  role       = aws_iam_role.authorizer.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_lambda_function" "authorizer" {
  function_name    = "${var.project_name}-${var.environment}-api-gateway-authorizer"
  filename         = local.authorizer_zip
  source_code_hash = filebase64sha256(local.authorizer_zip)
  runtime          = "python3.13"
  architectures    = ["x86_64"]
  handler          = "lambda_function.lambda_handler"
  role             = aws_iam_role.authorizer.arn
  timeout          = 5
  memory_size      = 128

  environment {
    variables = {
      LOG_LEVEL = var.log_level
    }
  }

  tags = var.common_tags
}

# HTTP API

module "modular_api_gateway" {
  source = "../../modules/modular-api-gateway"

  name                  = "${var.project_name}-${var.environment}-api"
  authorizer_lambda_arn = aws_lambda_function.authorizer.arn
  authorizer_invoke_arn = aws_lambda_function.authorizer.invoke_arn
  tags                  = var.common_tags

  module_routes = concat(
    module.module_access.api_routes,
    module.module_ai.api_routes,
    module.module_mgmt.api_routes,
    [],
  )
}
