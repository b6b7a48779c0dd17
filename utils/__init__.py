"""The suite's library, one sub-package per stage; the scripts at the top level are its thin command lines.

    common       errors, atomic files, the worker pool: what every stage shares
    cli          flags shared by several scripts, a script run as its shell command, TensorFlow's environment
    data         VOC / SBD / COCO files and the generated demo data (no TensorFlow)
    records      TFRecord writing for VOC and COCO
    runtime      model configuration, checkpoints and warm start, training, prediction, export, distribution
    postprocess  metrics and scoring, voting, DenseCRF, probabilities, submissions, plots (no TensorFlow)
    reproduce    reproduce.py's downloads, stages, runs and RESULTS.md
    upstream     upstream DeepLab's deeplab/*.py command lines

Importing a package here changes nothing in the process: scripts call cli.environment.tensorflow_defaults().
"""
