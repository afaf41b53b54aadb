"""What an asset's Content Credentials say.

- `verifier.trust_spec`: what a trust policy is built from (named lists of PEM text, EKUs),
  checked without parsing a certificate; `verifier.trust`: the policy built from it
  (certificates parsed, engine settings, attribution).
- `verifier.reader`: `Verifier`, reading one asset into a `Verdict` in this process.
- `verifier.isolation`: `IsolatedVerifier`, the same in worker processes bounded in
  memory and time: what anything facing the public uses. Only its workers load the engine
  and parse certificates; `verifier.precheck` holds the checks its owner makes first.
- `verifier.verdict`, `verifier.label_types`, `verifier.label`: the results.
- `verifier.process_pool`: the isolated worker-process pool under `IsolatedVerifier` and
  `signer.isolation.IsolatedSigner` (domain-free, so signer/ may import it).

Importing this package does not load the C2PA engine; `reader` does, and so do the workers
of `isolation` (not the process that owns them).
"""
