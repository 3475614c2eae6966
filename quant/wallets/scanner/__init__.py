"""The wallet scanner: its config, its rules and the stages that apply them."""
