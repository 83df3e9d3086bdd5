"""Chapter helpers: one module per chapter subject, each imported only by its chapter's notebook
(``plots`` is shared by several). They may import heavy libraries; the core package never imports them.
"""
