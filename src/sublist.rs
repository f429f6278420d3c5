//! Subject trie.
