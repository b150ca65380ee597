//! The flow entry stays within the DESIGN.md budget: 256 bytes or less per entry (inspection
//! buffers and naming results are boxed and live elsewhere).

#[test]
fn flow_entry_is_at_most_256_bytes() {
    let entry = cloudsight::internal::flow::FLOW_ENTRY_SIZE;
    assert!(entry <= 256, "FlowEntry is {entry} bytes, budget 256");
}

#[test]
fn a_table_slot_with_its_key_is_at_most_256_bytes() {
    let slot = cloudsight::internal::flow::FLOW_ENTRY_SIZE
        + std::mem::size_of::<cloudsight::internal::flow::FlowKey>();
    assert!(slot <= 256, "key + entry is {slot} bytes");
}
