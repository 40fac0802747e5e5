"""After the call: a summary, a disposition, action items and extracted fields (issue 14).

`facts` gathers what a call was from its events; `rules` decides deterministically from the
profile's `[summary]` section; `llm` asks a model for the same with a JSON schema and checks its
answer; `summarizer` runs one of them per ended call, off the call's path, and publishes
exactly one `CallSummarized`.
"""
