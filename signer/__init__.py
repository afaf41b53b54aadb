"""What is signed: C2PA manifests for AI output, written into media files by the c2pa engine.

- `engine.ContentSigner`: signs files (embedded or sidecar), thread-safe, probed at start-up.
- `manifest`: the manifest definition, a pure function of a `GenerationRequest`.
- `formats.detect_format`: the media format from a file's bytes.
- `errors`: everything that can go wrong, as originmark's own exceptions (c2pa's never leak).
"""
