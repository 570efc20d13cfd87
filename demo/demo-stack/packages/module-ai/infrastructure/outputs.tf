output "api_routes" {
  description = "Routes served by this module, consumed by the modular API gateway."
  value = [
    { method = "GET", path = "/ai/config", integration = aws_lambda_function.ai_config.invoke_arn, public = false },
    { method = "PUT", path = "/ai/config", integration = aws_lambda_function.ai_config.invoke_arn, public = false },
    { method = "GET", path = "/ai/providers", integration = aws_lambda_function.provider.invoke_arn, public = true },
    { method = "GET", path = "/ai/providers/{providerId}", integration = aws_lambda_function.provider.invoke_arn, public = false },
  ]
}

output "ai_common_layer_arn" {
  value = aws_lambda_layer_version.ai_common.arn
}

output "lambda_function_names" {
  value = {
    "ai-config" = aws_lambda_function.ai_config.function_name
    "provider"  = aws_lambda_function.provider.function_name
  }
}

output "lambda_function_arns" {
  value = {
    "ai-config" = aws_lambda_function.ai_config.arn
    "provider"  = aws_lambda_function.provider.arn
  }
}
