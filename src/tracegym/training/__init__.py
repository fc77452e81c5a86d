"""Training: prompts from samples, the offline student, the SFT warm start, and GRPO.

Modules import torch/transformers inside the functions that need them, so importing this package stays light.
"""
