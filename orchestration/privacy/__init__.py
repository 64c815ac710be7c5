"""Privacy requests: erase a person everywhere, export what is held about them, and keep
them from coming back.

  store.py       the `privacy` schema: requests, their steps, the erasure's working set,
                 the suppression list (salted hashes only) and suppressed loads
  resolve.py     an identifier or customer_id -> the person's customers, records,
                 identifiers, raw rows and graph nodes, through the identity graph
  erasure.py     the steps of an erasure (each recorded, so an interrupted one resumes)
                 and its receipt
  landing.py     landing files rewritten without the person's lines, the load manifest
                 kept in step so nothing reloads
  suppression.py rows that arrive with a suppressed identifier are not loaded
  verify.py      the search of every table and landing file for the erased values
  export.py      an access request: everything held about the person, as JSON and CSVs
"""
