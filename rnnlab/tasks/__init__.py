"""Tasks: for each kind of model, data -> batches, loss, evaluation, prediction and the
`train_*` function that runs it in the one trainer (rnnlab.train).

    lm.py         character language model (streams with carried state)
    classify.py   text classification (many-to-one) on padded batches
    tag.py        part-of-speech tagging (many-to-many, synchronous) on padded batches
    padded.py     the padded-batch task both classification and tagging use
    scores.py     confusion matrix, accuracy and macro-F1
"""
