"""CDK stacks and constructs of the labeling-to-training workflow."""
