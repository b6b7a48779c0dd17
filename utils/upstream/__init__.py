"""Upstream DeepLab's command lines (deeplab/train.py, eval.py, vis.py, export_model.py): its flags and their
mapping to this suite's (flags), the translated commands (commands), its record layout (data) and its outputs
(run)."""
