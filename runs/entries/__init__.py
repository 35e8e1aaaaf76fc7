"""Agents' structured output as a conversation: entries (`shapes`), one normalizer per output
format (`claude`, `codex`, `gemini`, `cursor`, `opencode`; `formats` names them and tells
them apart), and a run's entries rebuilt from its stored log (`replay`).
"""
