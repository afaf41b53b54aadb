"""The c2pa engine settings the signer runs with, as plain dicts (pure functions).

Every key here changes a default of c2pa-rs 0.91.3 that would otherwise cost time, leak
requests to the network, or fail the C2PA conformance rubric (see ../shared/GUIDE.md).
The engine silently ignores unknown keys, so the probe (signer/probe.py) checks at start-up
that the ones visible in the output took effect, and the tests check each of them.
"""

from __future__ import annotations

from typing import Any

from keys.profile import ALLOWED_SIGNING_EKUS

# Above this size the engine keeps its working copy of an asset in a temp file instead of
# memory (its default, 512 MB, doubles the peak memory for a 300 MB video).
BACKING_STORE_MEMORY_THRESHOLD_MB = 64

# Large BMFF sources (MP4, MOV...) are hashed as a Merkle tree over `mdat` with leaves of this
# size. Without it c2pa-rs 0.91.3 hashes in 256 MB buffers and reads the next chunk while a
# thread hashes the previous one: two buffers, ~512 MiB resident on any file over 512 MB (a
# 2 GiB MP4 peaked at 522-570 MiB in a signer worker). With 16 MiB leaves the same file signs at
# ~67 MiB and its output verifies at ~66 MiB, at the same speed (bench/large_video_bench.py
# --merkle-chunk-kb 16384). The tree is in the C2PA BMFF hash assertion (merkle field).
MERKLE_LEAF_KB = 16 * 1024

# Assertions our claim generator makes itself belong in the claim's created_assertions;
# the engine would list everything but the hard binding as gathered.
CREATED_ASSERTION_LABELS = ("c2pa.actions", "c2pa.ingredient", "c2pa.thumbnail.claim", "c2pa.thumbnail.ingredient")


def claim_signing_eku_config() -> str:
    """The engine's `trust.trust_config`: the EKUs it accepts on a signing certificate when verifying.

    The engine's default accepts only emailProtection, so a certificate with only the C2PA
    claim-signing EKU verifies Invalid without this list. It is set on the signing context
    too, where it decides how a parent's credentials are judged in the ingredient. The list
    comes from keys/, so that a chain keys/ accepts is one the engine accepts.
    """
    return "".join(f"{oid.dotted_string}\n" for oid in ALLOWED_SIGNING_EKUS)


def signing_settings(*, thumbnails: bool, local_anchors_pem: str | None, merkle_bmff: bool = False) -> dict[str, Any]:
    """Settings of the Context every Builder is made from.

    `local_anchors_pem` (the signing chain's root) lets the manifest record a parent that
    we signed ourselves as trusted in its ingredient's validation results. `merkle_bmff`: the
    context for large BMFF sources (MERKLE_LEAF_KB above).
    """
    core: dict[str, Any] = {"backing_store_memory_threshold_in_mb": BACKING_STORE_MEMORY_THRESHOLD_MB}
    if merkle_bmff:
        core["merkle_tree_chunk_size_in_kb"] = MERKLE_LEAF_KB
        # Every leaf hash in the manifest itself: no proof boxes added to the file (the default
        # added 129-2048 uuid boxes to a 2 GiB MP4 and doubled the signing time).
        core["merkle_tree_max_proofs"] = 0
    trust: dict[str, Any] = {"trust_config": claim_signing_eku_config()}
    if local_anchors_pem:
        trust["anchors"] = [{"trust_anchors": local_anchors_pem, "trust_kind": "manifest", "trust_uri": "local"}]
    return {
        "core": core,
        "trust": trust,
        "verify": {
            # A parent file is read for its own credentials: it must not make us fetch URLs.
            "remote_manifest_fetch": False,
            "ocsp_fetch": False,
            # The probe verifies once at start-up instead of after every signature (~+13 ms each).
            "verify_after_sign": False,
        },
        "builder": {
            # Thumbnails cost 4-5x the signing time and upscale tiny images.
            "thumbnail": {"enabled": thumbnails},
            # Mandatory in every actions assertion for the conformance rubric.
            "actions": {"all_actions_included": True},
            "created_assertion_labels": list(CREATED_ASSERTION_LABELS),
        },
    }


def probe_verification_settings(*, anchors_pem: str) -> dict[str, Any]:
    """Settings of the throw-away Context that verifies the start-up probe."""
    return {
        "trust": {
            "trust_config": claim_signing_eku_config(),
            "anchors": [{"trust_anchors": anchors_pem, "trust_kind": "manifest", "trust_uri": "local"}],
        },
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    }


def credentials_lookup_settings() -> dict[str, Any]:
    """Settings of the Context that only looks whether a file to sign carries a manifest store.

    Nothing is validated (`verify_after_reading` off: a parse of the store, ~0.2-9 ms on the shared
    corpus against the full validation the ingredient gets later) and nothing is fetched.
    """
    return {"verify": {"verify_after_reading": False, "remote_manifest_fetch": False, "ocsp_fetch": False}}
