output "api_routes" {
  description = "Routes served by this module, consumed by the modular API gateway."
  value = [
    { method = "GET", path = "/mgmt/lambdas", integration = aws_lambda_function.lambda_mgmt.invoke_arn, public = false },
    { method = "GET", path = "/mgmt/warming", integration = aws_lambda_function.lambda_mgmt.invoke_arn, public = false },
    { method = "PUT", path = "/mgmt/warming", integration = aws_lambda_function.lambda_mgmt.invoke_arn, public = false },
  ]
}

output "mgmt_common_layer_arn" {
  value = aws_lambda_layer_version.mgmt_common.arn
}

output "lambda_function_names" {
  value = {
    "lambda-mgmt" = aws_lambda_function.lambda_mgmt.function_name
  }
}

output "lambda_function_arns" {
  value = {
    "lambda-mgmt" = aws_lambda_function.lambda_mgmt.arn
  }
}
