"""The Lambda functions of the workflow: one CDK asset (this package), one module per function
plus their pure helpers. Standard library and the runtime's boto3/botocore only."""
