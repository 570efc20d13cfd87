# Non-secret settings only; secrets go in local-secrets.tfvars (git-ignored).
project_name = "demo"
aws_region   = "us-east-1"
log_level    = "INFO"
supabase_url = "https://demo.supabase.co"
