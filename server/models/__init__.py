"""The model interface and its implementations (litellm, and the offline demo)."""
