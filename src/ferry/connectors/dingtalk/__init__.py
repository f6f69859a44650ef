"""connectors/dingtalk."""
