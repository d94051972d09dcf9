"""The learned decision: sentence embeddings, the entry classifier, the signals it is given, what a question
asks for, the hybrid ranking, the policy that answers, suggests or declines, and its calibration and scoring."""
