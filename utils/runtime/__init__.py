"""The TensorFlow runtime around the model: the model's configuration and deeplab_params.json (model_config),
checkpoints and the warm start (checkpoints, checkpoint_description), the Estimator's training loop (training),
prediction from a checkpoint or a frozen graph (predict, frozen_graph), export (export) and several devices or
machines (distribute, cluster). The model itself is deeplab_model.py, passed in by the scripts."""
