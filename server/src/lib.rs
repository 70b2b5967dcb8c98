//! dyno-server: the OpenAI-compatible HTTP server over an engine handle (work in progress).
