"""Object storage for jobs: a narrow interface (`interface.ObjectStore`), two backends
(`local.LocalFolderStore`, the default; `s3.S3ObjectStore`), chosen by URI scheme
(`router.ObjectStores`), and the moves jobs make (`transfer`: spool a copy, upload a file;
`media`: sign or verify an object). Built from settings in `factory`.

Kept beside app/store rather than beside signer/ and verifier/: those see only local files;
storage is the service's infrastructure, configured from app/settings.py like the database.
(No imports here: importing the package must not import boto3.)
"""
