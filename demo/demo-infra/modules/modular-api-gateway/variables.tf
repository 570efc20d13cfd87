variable "name" {
  description = "Name of the HTTP API."
  type        = string
}

variable "module_routes" {
  description = "Routes exported by the stack modules (their api_routes outputs, concatenated)."
  type = list(object({
    method      = string
    path        = string
    integration = string
    public      = bool
  }))

  validation {
    condition     = alltrue([for r in var.module_routes : contains(["GET", "POST", "PUT", "PATCH", "DELETE"], r.method)])
    error_message = "Route methods must be one of GET, POST, PUT, PATCH, DELETE."
  }

  validation {
    condition     = alltrue([for r in var.module_routes : can(regex("^/([A-Za-z0-9._-]+|\\{[a-z][A-Za-z0-9]*\\})(/([A-Za-z0-9._-]+|\\{[a-z][A-Za-z0-9]*\\}))*$", r.path))])
    error_message = "Route paths must start with /, have no trailing slash and use {camelCase} parameters."
  }

  validation {
    condition     = length(var.module_routes) <= 300
    error_message = "An HTTP API supports at most 300 routes and 300 integrations."
  }
}

variable "authorizer_lambda_arn" {
  description = "ARN of the REQUEST authorizer Lambda (for its invoke permission)."
  type        = string
}

variable "authorizer_invoke_arn" {
  description = "Invoke ARN of the REQUEST authorizer Lambda."
  type        = string
}

variable "authorizer_result_ttl_seconds" {
  description = "How long API Gateway caches an authorizer decision per Authorization header."
  type        = number
  default     = 300
}

variable "tags" {
  description = "Tags applied to the API and stage."
  type        = map(string)
  default     = {}
}
