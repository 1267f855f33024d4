"""`vpclab ui`: a live web view of a running lab (server.py serves static/; layout.py places things)."""
