"""The platform's API Gateway REQUEST authorizer: a Cognito JWT in, one tenant (or a Deny) out.

Packaged by tenantform (tenantform/lambda_package.py) as the package `authorizer/` at the root of
a deterministic zip, with its pure-Python dependencies; Lambda handler `authorizer.handler.handler`.
"""
