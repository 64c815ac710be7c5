{#- Edges of the identity graph: a star per source record over its kept identifiers. -#}
{{ cdp.identity_star_edges(ref('int_identity_nodes_numbered')) }}
