//! The subscription trie (“sublist”) with a shared match cache and a per-connection
//! match cache (DESIGN §3.2).
//!
//! Subscriptions are stored in a trie with one level per subject token. A node keeps
//! its literal children in a map keyed by token bytes and two dedicated slots for the
//! wildcard children `*` (`pwc`) and `>` (`fwc`), so matching a literal subject visits at
//! most three children per level and never compares against every filter.
//!
//! Matching results are cached because publishers tend to reuse a small set of subjects:
//! - the **shared cache** inside [`Sublist`] (bounded, keyed by subject) turns repeated
//!   matches into a read-locked hash lookup; inserts/removes invalidate exactly the
//!   cached subjects the changed filter matches, so a rarely changing set of wildcard
//!   subscriptions keeps its cache warm;
//! - the **local cache** [`LocalMatchCache`] is owned by one connection and validated
//!   against the sublist's [`generation`](Sublist::generation) counter, so steady-state
//!   publishing takes no shared lock at all.
//!
//! Results are handed out as `Arc<MatchResult<T>>` so callers can fan out without
//! holding any lock.
//!
//! The sublist is generic over the subscription handle `T` so it can be tested with
//! plain integers and so routes can store remote interest in the same structure.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::subject::{has_wildcard, is_valid_queue, is_valid_subject, subject_matches, tokens};

/// Default number of subjects kept in a sublist's shared match cache.
///
/// Big enough for the working set of typical publishers, small enough that the scan a
/// wildcard insert/remove does over the cache stays in the tens of microseconds.
pub const DEFAULT_CACHE_CAPACITY: usize = 4096;

/// Source of unique sublist ids, so a [`LocalMatchCache`] notices when it is used with
/// a different sublist than the one that filled it (generations of two sublists are
/// not comparable).
static NEXT_SUBLIST_ID: AtomicU64 = AtomicU64::new(1);

/// Why an insert or remove was refused.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum SublistError {
    /// The subject is not a valid filter, or the queue name is invalid.
    #[error("invalid subject")]
    InvalidSubject,
    /// The exact (subject, queue, item) subscription is not stored.
    #[error("subscription not found")]
    NotFound,
}

/// Everything interested in one literal subject.
///
/// The server delivers to every `plain` entry and to one member of each queue group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchResult<T> {
    /// Subscriptions without a queue group, one entry per matching subscription.
    pub plain: Vec<T>,
    /// One group per distinct queue name across all matching filters, sorted by name.
    pub queues: Vec<QueueGroup<T>>,
}

impl<T> MatchResult<T> {
    /// `true` when nobody is interested; used e.g. for no-responders replies.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty()
    }
}

impl<T> Default for MatchResult<T> {
    fn default() -> Self {
        MatchResult {
            plain: Vec::new(),
            queues: Vec::new(),
        }
    }
}

/// The members of one queue group that match a subject. Members subscribed through
/// different filters of the same queue name are merged into one group, because the
/// message must reach exactly one member of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueGroup<T> {
    /// The queue group name.
    pub name: Box<[u8]>,
    /// Matching members; never empty.
    pub members: Vec<T>,
}

/// One trie level.
struct Node<T> {
    /// Literal next tokens.
    children: HashMap<Box<[u8]>, Node<T>>,
    /// Child for the `*` token.
    pwc: Option<Box<Node<T>>>,
    /// Child for the `>` token (always a leaf: `>` is the last token).
    fwc: Option<Box<Node<T>>>,
    /// Subscriptions without queue ending at this node.
    plain: HashSet<T>,
    /// Queue subscriptions ending at this node, by queue name.
    queues: HashMap<Box<[u8]>, HashSet<T>>,
}

impl<T> Node<T> {
    fn new() -> Self {
        Node {
            children: HashMap::new(),
            pwc: None,
            fwc: None,
            plain: HashSet::new(),
            queues: HashMap::new(),
        }
    }

    /// A node with no subscriptions and no children can be pruned.
    fn is_empty(&self) -> bool {
        self.plain.is_empty()
            && self.queues.is_empty()
            && self.children.is_empty()
            && self.pwc.is_none()
            && self.fwc.is_none()
    }
}

/// Split off the first token: `(token, rest after the separator)`; `rest` is `None`
/// when this was the last token.
#[inline]
fn split_first_token(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr::memchr(b'.', s) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// Matched subscriptions borrowed from the trie while the read lock is held.
struct Collector<'a, T> {
    plain: Vec<T>,
    queues: Vec<(&'a [u8], &'a HashSet<T>)>,
}

impl<'a, T: Clone> Collector<'a, T> {
    fn add_node(&mut self, node: &'a Node<T>) {
        self.plain.extend(node.plain.iter().cloned());
        self.queues
            .extend(node.queues.iter().map(|(name, set)| (&**name, set)));
    }

    /// Collect the subscriptions of `node`'s subtree that match `rest`, the subject
    /// tokens still to be consumed below `node` (at least one).
    fn collect(&mut self, node: &'a Node<T>, rest: &[u8]) {
        let (tok, next) = split_first_token(rest);
        if let Some(fwc) = node.fwc.as_deref() {
            // `>` matches this token and everything after it.
            self.add_node(fwc);
        }
        if let Some(pwc) = node.pwc.as_deref() {
            self.descend(pwc, next);
        }
        if let Some(child) = node.children.get(tok) {
            self.descend(child, next);
        }
    }

    #[inline]
    fn descend(&mut self, child: &'a Node<T>, next: Option<&[u8]>) {
        match next {
            None => self.add_node(child),
            Some(rest) => self.collect(child, rest),
        }
    }

    fn finish(mut self) -> MatchResult<T> {
        let mut queues: Vec<QueueGroup<T>> = Vec::new();
        if !self.queues.is_empty() {
            // Merge groups of the same name coming from different filters.
            self.queues.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (name, set) in self.queues {
                match queues.last_mut() {
                    Some(g) if &*g.name == name => g.members.extend(set.iter().cloned()),
                    _ => queues.push(QueueGroup {
                        name: name.into(),
                        members: set.iter().cloned().collect(),
                    }),
                }
            }
        }
        MatchResult {
            plain: self.plain,
            queues,
        }
    }
}

/// Remove `(queue, item)` from the node reached by following `rest` below `node`
/// (`None` = `node` itself), pruning nodes that become empty. Returns whether it was
/// found.
fn remove_from<T: Eq + Hash>(
    node: &mut Node<T>,
    rest: Option<&[u8]>,
    queue: Option<&[u8]>,
    item: &T,
) -> bool {
    let Some(rest) = rest else {
        return match queue {
            None => node.plain.remove(item),
            Some(q) => match node.queues.get_mut(q) {
                Some(set) => {
                    let found = set.remove(item);
                    if set.is_empty() {
                        node.queues.remove(q);
                    }
                    found
                }
                None => false,
            },
        };
    };
    let (tok, next) = split_first_token(rest);
    match tok {
        b"*" | b">" => {
            let slot = if tok == b"*" {
                &mut node.pwc
            } else {
                &mut node.fwc
            };
            let Some(child) = slot.as_deref_mut() else {
                return false;
            };
            let found = remove_from(child, next, queue, item);
            if found && child.is_empty() {
                *slot = None;
            }
            found
        }
        _ => {
            let Some(child) = node.children.get_mut(tok) else {
                return false;
            };
            let found = remove_from(child, next, queue, item);
            if found && child.is_empty() {
                node.children.remove(tok);
            }
            found
        }
    }
}

/// Cached match results by literal subject (`Box<[u8]>: Borrow<[u8]>`, so lookups take
/// a borrowed `&[u8]` and do not allocate).
type ResultMap<T> = HashMap<Box<[u8]>, Arc<MatchResult<T>>>;

/// The trie proper, guarded by one lock.
struct Trie<T> {
    root: Node<T>,
}

/// The subscription store of one account: a token trie plus a bounded shared match
/// cache. `Send + Sync` (for `T: Send + Sync`); the server shares it through an `Arc`.
///
/// Lock order is always trie → cache. Writers hold the trie write lock while they
/// invalidate the cache and bump the generation, and a cache fill happens under the
/// trie read lock, so a result computed before a change can never be cached after it.
pub struct Sublist<T> {
    trie: RwLock<Trie<T>>,
    cache: RwLock<ResultMap<T>>,
    cache_capacity: usize,
    generation: AtomicU64,
    count: AtomicUsize,
    id: u64,
    empty: Arc<MatchResult<T>>,
}

impl<T: Clone + Eq + Hash + Send + Sync> Default for Sublist<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + Eq + Hash + Send + Sync> Sublist<T> {
    /// An empty sublist with a shared cache of [`DEFAULT_CACHE_CAPACITY`] subjects.
    pub fn new() -> Self {
        Self::with_cache_capacity(DEFAULT_CACHE_CAPACITY)
    }

    /// An empty sublist whose shared cache holds at most `capacity` subjects
    /// (0 disables the shared cache; useful for tests and benchmarks).
    pub fn with_cache_capacity(capacity: usize) -> Self {
        Sublist {
            trie: RwLock::new(Trie { root: Node::new() }),
            cache: RwLock::new(HashMap::new()),
            cache_capacity: capacity,
            generation: AtomicU64::new(0),
            count: AtomicUsize::new(0),
            id: NEXT_SUBLIST_ID.fetch_add(1, Ordering::Relaxed),
            empty: Arc::new(MatchResult::default()),
        }
    }

    /// Store a subscription of `item` to the filter `subject`, optionally in queue group
    /// `queue`.
    ///
    /// Err([`SublistError::InvalidSubject`]) if `subject` is not a valid filter or the
    /// queue name is invalid. Inserting an identical (subject, queue, item) again is a
    /// successful no-op: nothing changes, so the generation is not bumped either.
    pub fn insert(
        &self,
        subject: &[u8],
        queue: Option<&[u8]>,
        item: T,
    ) -> Result<(), SublistError> {
        if !is_valid_subject(subject) || queue.is_some_and(|q| !is_valid_queue(q)) {
            return Err(SublistError::InvalidSubject);
        }
        let mut trie = self.trie.write();
        let mut node = &mut trie.root;
        for tok in tokens(subject) {
            node = match tok {
                b"*" => node
                    .pwc
                    .get_or_insert_with(|| Box::new(Node::new()))
                    .as_mut(),
                b">" => node
                    .fwc
                    .get_or_insert_with(|| Box::new(Node::new()))
                    .as_mut(),
                _ => {
                    if !node.children.contains_key(tok) {
                        node.children.insert(tok.into(), Node::new());
                    }
                    node.children.get_mut(tok).expect("just inserted")
                }
            };
        }
        let added = match queue {
            None => node.plain.insert(item),
            Some(q) => match node.queues.get_mut(q) {
                Some(set) => set.insert(item),
                None => {
                    let mut set = HashSet::with_capacity(1);
                    set.insert(item);
                    node.queues.insert(q.into(), set);
                    true
                }
            },
        };
        if added {
            self.count.fetch_add(1, Ordering::Relaxed);
            self.changed(subject);
        }
        Ok(())
    }

    /// Remove the subscription of `item` to `subject` in `queue`.
    ///
    /// Err([`SublistError::NotFound`]) if that exact (subject, queue, item) is not
    /// stored (including when `subject` is not even valid). Trie nodes left empty are
    /// pruned so churn of unique subjects (inboxes) does not leak memory.
    pub fn remove(
        &self,
        subject: &[u8],
        queue: Option<&[u8]>,
        item: &T,
    ) -> Result<(), SublistError> {
        if !is_valid_subject(subject) {
            return Err(SublistError::NotFound);
        }
        let mut trie = self.trie.write();
        if !remove_from(&mut trie.root, Some(subject), queue, item) {
            return Err(SublistError::NotFound);
        }
        self.count.fetch_sub(1, Ordering::Relaxed);
        self.changed(subject);
        Ok(())
    }

    /// Called with the trie write lock held after `filter` gained or lost a
    /// subscription: drop the cached results it affects, then publish the change
    /// through the generation counter.
    fn changed(&self, filter: &[u8]) {
        {
            let mut cache = self.cache.write();
            if !cache.is_empty() {
                if has_wildcard(filter) {
                    cache.retain(|subject, _| !subject_matches(filter, subject));
                } else {
                    // A literal filter only matches the identical subject.
                    cache.remove(filter);
                }
            }
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// All interest in the literal `subject`.
    ///
    /// A cache hit costs one read lock on the cache and an `Arc` clone; a miss walks the
    /// trie under its read lock and fills the cache (evicting about a quarter of it,
    /// arbitrary entries, when full). A subject with an empty token matches nothing;
    /// `*` and `>` tokens in a published subject are taken literally (so only
    /// wildcard filters match them), as nats-server does for non-pedantic clients.
    pub fn matches(&self, subject: &[u8]) -> Arc<MatchResult<T>> {
        {
            let cache = self.cache.read();
            if let Some(r) = cache.get(subject) {
                return Arc::clone(r);
            }
        }
        if !is_matchable_subject(subject) {
            return Arc::clone(&self.empty);
        }
        let trie = self.trie.read();
        let mut collector = Collector {
            plain: Vec::new(),
            queues: Vec::new(),
        };
        collector.collect(&trie.root, subject);
        let result = collector.finish();
        let result = if result.is_empty() {
            Arc::clone(&self.empty)
        } else {
            Arc::new(result)
        };
        if self.cache_capacity > 0 {
            // Still holding the trie read lock: no writer can slip in between computing
            // `result` and caching it.
            let mut cache = self.cache.write();
            if cache.len() >= self.cache_capacity && !cache.contains_key(subject) {
                evict_quarter(&mut cache, self.cache_capacity);
            }
            cache.insert(subject.into(), Arc::clone(&result));
        }
        drop(trie);
        result
    }

    /// Modification counter: bumped (Release) after every successful insert or remove,
    /// read with Acquire. A result obtained after reading generation `g` is valid for
    /// as long as the generation still reads `g`; [`LocalMatchCache`] relies on this.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Number of subscriptions stored (for monitoring and limits).
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Number of subjects currently in the shared match cache (for monitoring).
    pub fn cache_len(&self) -> usize {
        self.cache.read().len()
    }
}

/// Make room in a full cache of `capacity` entries: drop roughly every fourth entry.
/// Cheap (one pass, no bookkeeping on hits) and, because hash order is unrelated to
/// insertion order, effectively random eviction. Tiny caches are simply cleared.
fn evict_quarter<V>(map: &mut HashMap<Box<[u8]>, V>, capacity: usize) {
    let mut i = 0usize;
    map.retain(|_, _| {
        i += 1;
        i % 4 != 0
    });
    if map.len() >= capacity {
        map.clear();
    }
}

/// A small, fast, unkeyed hasher for subject bytes, used only by [`LocalMatchCache`].
///
/// SipHash (the std default) costs more than the rest of a local-cache hit. An unkeyed
/// hash is not flood-resistant, but a local cache is bounded and filled only by its own
/// connection's publishes, so a client colliding subjects on purpose can only slow
/// itself down. The shared cache, filled by all clients of an account, keeps SipHash.
#[derive(Default, Clone, Copy)]
struct SubjectHasher(u64);

impl SubjectHasher {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;

    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

#[inline]
fn le_u64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

#[inline]
fn le_u32(b: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[..4]);
    u32::from_le_bytes(w)
}

impl Hasher for SubjectHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Tails are read with overlapping loads rather than copied into a zeroed
        // word: the copy made the following load stall (seen in perf on 7-byte
        // subjects). The slice length is hashed separately by `Hash for [u8]`, and
        // for each length the words below cover every byte, so equal words imply
        // equal slices.
        let len = bytes.len();
        if len >= 8 {
            let mut chunks = bytes.chunks_exact(8);
            for c in &mut chunks {
                self.add(le_u64(c));
            }
            if !chunks.remainder().is_empty() {
                self.add(le_u64(&bytes[len - 8..]));
            }
        } else if len >= 4 {
            let lo = u64::from(le_u32(&bytes[..4]));
            let hi = u64::from(le_u32(&bytes[len - 4..]));
            self.add(lo | (hi << 32));
        } else if len > 0 {
            let w = u64::from(bytes[0])
                | (u64::from(bytes[len / 2]) << 8)
                | (u64::from(bytes[len - 1]) << 16);
            self.add(w);
        }
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // Fold the well-mixed high bits into the low bits the table indexes with.
        let h = self.0;
        (h ^ (h >> 29)).wrapping_mul(Self::K) ^ (h >> 32)
    }
}

/// Per-connection match cache (DESIGN §3.2): lets steady-state publishing skip the
/// shared lock entirely.
///
/// Entries are valid only while the sublist's generation is unchanged; any insert or
/// remove anywhere in the sublist empties this cache on the next [`get`](Self::get).
/// That is coarse, but subscription changes are rare compared to publishes and the
/// refill goes through the (precisely invalidated) shared cache.
pub struct LocalMatchCache<T> {
    map: HashMap<Box<[u8]>, Arc<MatchResult<T>>, BuildHasherDefault<SubjectHasher>>,
    capacity: usize,
    generation: u64,
    sublist_id: u64,
}

impl<T> LocalMatchCache<T> {
    /// A cache holding at most `capacity` subjects (0 = never cache, always ask the
    /// sublist). When full, about half of it is dropped.
    pub fn new(capacity: usize) -> Self {
        LocalMatchCache {
            map: HashMap::default(),
            capacity,
            generation: 0,
            sublist_id: 0,
        }
    }
}

impl<T: Clone + Eq + Hash + Send + Sync> LocalMatchCache<T> {
    /// The interest in `subject` in `sublist`.
    ///
    /// Returns the cached result if the sublist (and its generation) is unchanged,
    /// otherwise clears itself and re-matches. A hit does not allocate and takes no lock:
    /// one atomic load, one hash lookup by `&[u8]`, one `Arc` clone.
    pub fn get(&mut self, sublist: &Sublist<T>, subject: &[u8]) -> Arc<MatchResult<T>> {
        if self.capacity == 0 {
            return sublist.matches(subject);
        }
        Arc::clone(self.get_ref(sublist, subject))
    }

    /// Like [`get`](Self::get) but borrows the cached result: a hit costs a hash
    /// lookup and no atomic reference-count traffic (the publish hot path). With
    /// capacity 0 the single latest result is still held so it can be borrowed.
    pub fn get_ref(&mut self, sublist: &Sublist<T>, subject: &[u8]) -> &Arc<MatchResult<T>> {
        // Read the generation *before* matching: if a change lands in between, the
        // result is stored under the old generation and discarded on the next call.
        let generation = sublist.generation();
        if generation != self.generation || sublist.id != self.sublist_id {
            self.map.clear();
            self.generation = generation;
            self.sublist_id = sublist.id;
        }
        // Two lookups on a miss (contains, then entry) keep the borrow checker
        // happy without an allocation on the hit path.
        if !self.map.contains_key(subject) {
            let result = sublist.matches(subject);
            if self.map.len() >= self.capacity.max(1) {
                let mut keep = false;
                self.map.retain(|_, _| {
                    keep = !keep;
                    keep
                });
                if self.map.len() >= self.capacity.max(1) {
                    self.map.clear();
                }
            }
            self.map.insert(subject.into(), result);
        }
        match self.map.get(subject) {
            Some(r) => r,
            None => unreachable!("inserted above"),
        }
    }
}

/// Can `subject` be matched at all? Empty subjects and empty tokens cannot.
fn is_matchable_subject(subject: &[u8]) -> bool {
    !subject.is_empty()
        && subject[0] != b'.'
        && subject[subject.len() - 1] != b'.'
        && !subject.windows(2).any(|w| w == b"..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
        let mut v = v.to_vec();
        v.sort();
        v
    }

    #[test]
    fn send_sync() {
        fn assert_send_sync<X: Send + Sync>() {}
        assert_send_sync::<Sublist<u64>>();
        assert_send_sync::<Arc<MatchResult<u64>>>();
        assert_send_sync::<LocalMatchCache<u64>>();
    }

    #[test]
    fn literal_and_wildcards() {
        let s = Sublist::new();
        s.insert(b"foo.bar", None, 1).unwrap();
        s.insert(b"foo.*", None, 2).unwrap();
        s.insert(b"foo.>", None, 3).unwrap();
        s.insert(b">", None, 4).unwrap();
        s.insert(b"*.bar", None, 5).unwrap();
        s.insert(b"foo", None, 6).unwrap();
        assert_eq!(s.count(), 6);
        assert_eq!(sorted(&s.matches(b"foo.bar").plain), vec![1, 2, 3, 4, 5]);
        assert_eq!(sorted(&s.matches(b"foo.baz").plain), vec![2, 3, 4]);
        assert_eq!(sorted(&s.matches(b"foo.baz.qux").plain), vec![3, 4]);
        assert_eq!(sorted(&s.matches(b"foo").plain), vec![4, 6]);
        assert_eq!(sorted(&s.matches(b"x").plain), vec![4]);
        // A wildcard token in a published subject is literal: only wildcard
        // filters (which match any token) see it.
        assert_eq!(sorted(&s.matches(b"foo.*").plain), vec![2, 3, 4]);
        assert!(s.matches(b"foo..bar").is_empty());
        assert!(s.matches(b"").is_empty());
    }

    #[test]
    fn literal_tokens_with_star() {
        let s = Sublist::new();
        s.insert(b"foo*.bar", None, 1).unwrap();
        assert_eq!(s.matches(b"foo*.bar").plain, vec![1]);
        assert!(s.matches(b"fooX.bar").is_empty());
    }

    #[test]
    fn queue_groups_merge_across_filters() {
        let s = Sublist::new();
        s.insert(b"a.b", Some(b"q"), 1).unwrap();
        s.insert(b"a.*", Some(b"q"), 2).unwrap();
        s.insert(b"a.>", Some(b"r"), 3).unwrap();
        s.insert(b"a.b", None, 4).unwrap();
        let r = s.matches(b"a.b");
        assert_eq!(r.plain, vec![4]);
        assert_eq!(r.queues.len(), 2);
        assert_eq!(&*r.queues[0].name, b"q");
        assert_eq!(sorted(&r.queues[0].members), vec![1, 2]);
        assert_eq!(&*r.queues[1].name, b"r");
        assert_eq!(r.queues[1].members, vec![3]);
    }

    #[test]
    fn errors_and_duplicates() {
        let s = Sublist::new();
        assert_eq!(s.insert(b"", None, 1), Err(SublistError::InvalidSubject));
        assert_eq!(
            s.insert(b"a..b", None, 1),
            Err(SublistError::InvalidSubject)
        );
        assert_eq!(
            s.insert(b"a.>.b", None, 1),
            Err(SublistError::InvalidSubject)
        );
        assert_eq!(
            s.insert(b"a", Some(b""), 1),
            Err(SublistError::InvalidSubject)
        );
        assert_eq!(
            s.insert(b"a", Some(b"q q"), 1),
            Err(SublistError::InvalidSubject)
        );
        assert_eq!(s.generation(), 0);
        s.insert(b"a", None, 1).unwrap();
        let g = s.generation();
        s.insert(b"a", None, 1).unwrap();
        assert_eq!(s.generation(), g, "duplicate insert changes nothing");
        assert_eq!(s.count(), 1);
        assert_eq!(s.matches(b"a").plain, vec![1]);
        assert_eq!(s.remove(b"a", Some(b"q"), &1), Err(SublistError::NotFound));
        assert_eq!(s.remove(b"a", None, &2), Err(SublistError::NotFound));
        assert_eq!(s.remove(b"b", None, &1), Err(SublistError::NotFound));
        assert_eq!(s.remove(b"a.b", None, &1), Err(SublistError::NotFound));
        assert_eq!(s.remove(b"", None, &1), Err(SublistError::NotFound));
        s.remove(b"a", None, &1).unwrap();
        assert_eq!(s.remove(b"a", None, &1), Err(SublistError::NotFound));
        assert_eq!(s.count(), 0);
        assert!(s.generation() > g);
        assert!(s.matches(b"a").is_empty());
    }

    #[test]
    fn prunes_empty_nodes() {
        let s = Sublist::new();
        s.insert(b"a.b.c", None, 1).unwrap();
        s.insert(b"a.*.>", Some(b"q"), 2).unwrap();
        s.insert(b"a.b", None, 3).unwrap();
        s.remove(b"a.b.c", None, &1).unwrap();
        s.remove(b"a.*.>", Some(b"q"), &2).unwrap();
        {
            let trie = s.trie.read();
            let a = trie.root.children.get(&b"a"[..]).unwrap();
            assert!(a.pwc.is_none());
            let b = a.children.get(&b"b"[..]).unwrap();
            assert!(b.children.is_empty());
        }
        s.remove(b"a.b", None, &3).unwrap();
        assert!(s.trie.read().root.is_empty());
    }

    #[test]
    fn cache_invalidation_is_precise() {
        let s = Sublist::new();
        s.insert(b"x.y", None, 1).unwrap();
        s.matches(b"x.y");
        s.matches(b"x.z");
        s.matches(b"other");
        assert_eq!(s.cache_len(), 3);
        s.insert(b"x.*", None, 2).unwrap();
        assert_eq!(s.cache_len(), 1, "only x.y and x.z are affected");
        assert_eq!(sorted(&s.matches(b"x.y").plain), vec![1, 2]);
        assert_eq!(s.matches(b"x.z").plain, vec![2]);
        s.insert(b"other", None, 3).unwrap();
        assert_eq!(s.cache_len(), 2);
        assert_eq!(s.matches(b"other").plain, vec![3]);
        s.remove(b"x.*", None, &2).unwrap();
        assert_eq!(s.matches(b"x.y").plain, vec![1]);
        assert!(s.matches(b"x.z").is_empty());
    }

    #[test]
    fn cache_is_bounded() {
        let s = Sublist::with_cache_capacity(16);
        s.insert(b">", None, 1).unwrap();
        for i in 0..1000 {
            let subj = format!("s.{i}");
            assert_eq!(s.matches(subj.as_bytes()).plain, vec![1]);
            assert!(s.cache_len() <= 16);
        }
        let one = Sublist::with_cache_capacity(1);
        one.insert(b"a", None, 1).unwrap();
        for subj in [&b"a"[..], b"b", b"a", b"b"] {
            one.matches(subj);
            assert!(one.cache_len() <= 1);
        }
        let none = Sublist::with_cache_capacity(0);
        none.insert(b"a", None, 1).unwrap();
        assert_eq!(none.matches(b"a").plain, vec![1]);
        assert_eq!(none.cache_len(), 0);
    }

    #[test]
    fn local_cache_follows_generation() {
        let s = Sublist::new();
        let mut local = LocalMatchCache::new(2);
        s.insert(b"a", None, 1).unwrap();
        let r1 = local.get(&s, b"a");
        assert_eq!(r1.plain, vec![1]);
        let r2 = local.get(&s, b"a");
        assert!(Arc::ptr_eq(&r1, &r2), "hit returns the cached Arc");
        s.insert(b"*", None, 2).unwrap();
        assert_eq!(sorted(&local.get(&s, b"a").plain), vec![1, 2]);
        for subj in [&b"b"[..], b"c", b"d", b"a"] {
            local.get(&s, subj);
            assert!(local.map.len() <= 2);
        }
        // A different sublist with the same generation must not reuse entries.
        let other = Sublist::new();
        for _ in 0..s.generation() {
            other.insert(b"zzz", None, 9).unwrap();
            other.remove(b"zzz", None, &9).unwrap();
        }
        assert!(local.get(&other, b"a").is_empty());
    }

    #[test]
    fn concurrent_changes_never_leave_stale_cache() {
        let s = Arc::new(Sublist::new());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let s = Arc::clone(&s);
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut local = LocalMatchCache::new(8);
                    while !stop.load(Ordering::Relaxed) {
                        s.matches(b"t.x");
                        local.get(&s, b"t.y");
                    }
                    local
                })
            })
            .collect();
        for i in 0..2000u32 {
            s.insert(b"t.*", None, i).unwrap();
            s.insert(b"t.x", None, i).unwrap();
            if i % 2 == 0 {
                s.remove(b"t.*", None, &i).unwrap();
                s.remove(b"t.x", None, &i).unwrap();
            }
        }
        stop.store(true, Ordering::Relaxed);
        let locals: Vec<_> = readers.into_iter().map(|h| h.join().unwrap()).collect();
        let expect: Vec<u32> = (0..2000).filter(|i| i % 2 == 1).collect();
        let mut x = s.matches(b"t.x").plain.clone();
        x.sort();
        assert_eq!(x.len(), 2 * expect.len());
        for mut local in locals {
            let mut y = local.get(&s, b"t.y").plain.clone();
            y.sort();
            assert_eq!(y, expect);
        }
    }
}
