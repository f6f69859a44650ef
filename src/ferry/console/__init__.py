"""The web console and HTTP endpoints: health, metrics, DingTalk event callback; may use engine, store, observe.

Each endpoint group is a FastAPI router in its own module (``dingtalk_callback``); the CLI mounts them.
"""
