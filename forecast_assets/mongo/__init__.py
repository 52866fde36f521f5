"""The MongoDB stage: the connection resource, frame → BSON documents, and idempotent loading.

``resources`` holds :class:`MongoResource` (the only thing asset code talks to), ``documents`` turns
contract frames into BSON-native documents and derives the collection validator from the Pandera
model, ``load`` creates the collections, validator and indexes, ``sync`` makes each station's window
hold exactly the day's rows (insert new, replace changed, delete stale). ``local_server`` runs the embedded
SecantusDB default for local runs and tests only; production code never imports it.
"""
