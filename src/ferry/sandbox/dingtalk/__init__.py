"""sandbox/dingtalk."""
