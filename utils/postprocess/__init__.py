"""Everything after the network, in numpy: confusion matrices and IoU (metrics), scoring result folders
(scoring), the vote and the soft ensemble (voting, soft_voting), DenseCRF and its defaults (crf), saved
probabilities (probabilities), the evaluation-server tarball (submission) and charts and panels (plots).
No TensorFlow, nothing from the top level."""
