"""The end-of-call webhook (issue 14): each finished call handed to another system (a CRM, a
ticketing tool) as one signed JSON POST, from the durable outbox in the call store.

`signature` and `policy` are pure; `payload` turns a stored call into the body; `worker` is the
delivery loop (aiohttp). docs/webhook.md is the receiver's side of the contract.
"""
