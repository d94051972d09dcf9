"""The Slack side of openllm-bot and its command line."""
