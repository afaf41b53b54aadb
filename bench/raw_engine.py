"""The raw engine's signing, the reference that bench/rendition_bench.py and bench/feed_thumbnail_bench.py
time beside originmark's: c2pa's own Builder and Signer with the development key, a manifest of one
`c2pa.created` action (trainedAlgorithmicMedia: no ingredient, no fingerprint, no read-back),
thumbnails off as the service signs. Imports c2pa directly: the reference, not product code.
"""

from __future__ import annotations

import io
import json
from typing import BinaryIO

import c2pa

from keys.devca import DevelopmentCredentials

AI_CREATED_DEFINITION = json.dumps(
    {
        "claim_generator_info": [{"name": "bench"}],
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": (
                                "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
                            ),
                        }
                    ]
                },
            }
        ],
    }
)


class RawEngineSigner:
    """One development key's c2pa Signer and the Context it signs with."""

    def __init__(self, credentials: DevelopmentCredentials) -> None:
        assert credentials.key_path is not None  # a development key is a PEM file
        self._signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(
                alg=b"es256",
                sign_cert=credentials.chain_path.read_bytes(),
                private_key=credentials.key_path.read_bytes(),
                ta_url=None,
            )
        )
        self._context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})

    def sign(self, source: BinaryIO, mime: str = "image/jpeg") -> None:
        """Sign `source` with a fresh Builder (as each of the service's signatures has), output discarded."""
        builder = c2pa.Builder(AI_CREATED_DEFINITION, context=self._context)
        builder.sign(self._signer, mime, source, io.BytesIO())
