"""What a trained generator is for, once a run or a sweep made it:

    promote.py   the gate: a run's generator into the Model Registry, @champion moved if it wins
    evaluate.py  FID, KID and SSIM of a checkpoint or an MLflow model (`ganime evaluate`)
    colorize.py  sketches to colour PNGs with a registered model or a checkpoint

Their MLflow reads and writes are tracking/'s (registry.py, evaluations.py, model.py).
"""
