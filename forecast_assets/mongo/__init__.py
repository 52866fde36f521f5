"""The MongoDB stage: the connection resource, frame → BSON documents, and idempotent loading.

``resources`` holds :class:`MongoResource` (the only thing asset code talks to; ``write_concern`` parses
its durability setting), ``documents`` turns contract frames into BSON-native documents and derives the
collection validator from the Pandera model, ``collection_setup`` creates the collections, validator and
indexes, ``sync`` makes each station's window hold exactly the day's rows (insert new, replace changed,
delete stale), ``checks`` verifies a loaded day. ``embedded_server`` runs the SecantusDB process of
local runs and tests, ``embedded_resource`` starts it on demand; production never uses either.
"""
