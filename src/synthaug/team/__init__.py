"""Team scale: the same project against shared services instead of the embedded defaults.

settings.py  what the environment (and the git-ignored team.env) says: MLflow server, S3, DVC remote, tuning database
stack.py     a local team stack on loopback for trying it: PostgreSQL, an S3 endpoint (moto), an MLflow server
s3.py        boto3: import a raw data set from a bucket into data/ (progress, retries, resumable, verified)
check.py     which of the configured services answer, and why not
"""
