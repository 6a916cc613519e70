"""Loopback stand-ins for Telegram, Discord and SMTP (saas_fakes) and their in-process runner (loopback)."""
