/**
 * The map stored under `key`, made when missing: for lookups by several keys in turn, where a
 * joined string key would have to be built, and hashed, on every call.
 */
export function subMap<K, K2, V>(parent: Map<K, Map<K2, V>>, key: K): Map<K2, V> {
  let map = parent.get(key);
  if (map === undefined) {
    map = new Map();
    parent.set(key, map);
  }
  return map;
}
