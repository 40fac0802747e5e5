"""The operator admin API: a face. A local HTTP endpoint (`server`) that `voiceconsole control` and
`voiceconsole drill` act and watch through, and its live event feed (`feed`). It reaches the calls
only through CallControl's public methods, never the call code itself.
"""
