-- Connected components converged: no edge of the identity graph joins two components,
-- so no edge joins two different customers.
select
    edges.node_a,
    edges.node_b,
    component_a.component_id as component_a,
    component_b.component_id as component_b
from {{ ref('int_identity_edges_built') }} as edges
inner join {{ ref('int_identity_components_resolved') }} as component_a
    on edges.node_a = component_a.node_id
inner join {{ ref('int_identity_components_resolved') }} as component_b
    on edges.node_b = component_b.node_id
where component_a.component_id <> component_b.component_id
