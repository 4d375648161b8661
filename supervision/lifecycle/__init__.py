"""The credit lifecycle: objections, repairs, lists, commitments, restrictions, disclosure, reports and their
policy files."""
