-- aggregatedSelection of the push-model EventSource (SPEC section 3 A, Event Framework mode).
--
-- sveltos-agent sets the global `resources` to every object the resourceSelectors
-- matched (CAPI Clusters, their kubeconfig Secrets, consumer and ClusterSet Namespaces)
-- and calls evaluate(), which returns one synthetic target per cluster x consumer
-- namespace; the EventTrigger (oneForEvent) renders one push Secret per target
-- (templates/push-secret.yaml).
--
-- A target names its kubeconfig Secret and data key but does not carry the kubeconfig:
-- every target travels in one EventReport, which etcd caps at 1.5 MiB, and a kubeconfig
-- there costs twice its size (base64 within base64). addon-controller fetches the Secret
-- when it deploys (the EventTrigger's templateResourceRefs, getResource in the template).
--
-- The rules are direct mode's (inventory/plan_push.py, PushPlanner.push_secrets), step for step,
-- including its fixes to seed 000:
--   * the kubeconfig Secret is looked up in the Cluster's own namespace;
--   * a ClusterSet claimed by several Namespaces resolves to the lexicographically first;
--   * two Clusters wanting one Secret name: neither is written, unless exactly one of
--     them names its own namespace, which then wins over claimants from elsewhere;
--   * a Cluster without a usable kubeconfig, or whose names break Kubernetes limits, is
--     skipped.
-- And the trust routes of stack config (SPEC section 9), baked into CONFIG as data:
--   * only Namespaces stack config routes credentials to (CONFIG.consumerNamespaces,
--     CONFIG.consumerNamespaceSelector) receive push Secrets; the label alone is a request;
--   * a Cluster's labels place it (cpNs) only where CONFIG.clusterPlacementRoutes allows
--     for its own namespace (its own namespace always); a ClusterSet resolves, per
--     Cluster, to the first claimant the Cluster may place in, so a Namespace claiming a
--     set can neither take it over nor block it; a refused Cluster claims no Secret name;
--   * kubeconfigs from namespaces outside CONFIG.trustedKubeconfigNamespaces carry static
--     credentials only (common.lua, kubeconfig_problem).
-- What direct mode reports as diagnostics goes to `message` (sveltos-agent logs it).

local CAPI_GROUP_PREFIX = "cluster.x-k8s.io/"
local CAPI_KUBECONFIG_TYPE = "cluster.x-k8s.io/secret"
local KUBECONFIG_SUFFIX = "-kubeconfig"
local CAPI_KUBECONFIG_KEYS = {"value", "kubeconfig"}

-- Clusters carrying the profile-name label, each once, in namespace/name order. The
-- EventSource selects v1beta1 and v1beta2, so a Cluster served under both arrives twice.
local function collect_clusters(objects)
  local by_ref = {}
  for _, obj in ipairs(objects) do
    local api_version = obj.apiVersion or ""
    if obj.kind == "Cluster" and string.sub(api_version, 1, #CAPI_GROUP_PREFIX) == CAPI_GROUP_PREFIX
        and labels_of(obj)[CONFIG.clusterProfileNameLabel] ~= nil
        and namespace_selected(CONFIG.capiNamespaces, namespace_of(obj)) then
      by_ref[ref_of(obj)] = by_ref[ref_of(obj)] or obj
    end
  end
  local clusters = {}
  for _, ref in ipairs(sorted_keys(by_ref)) do
    table.insert(clusters, by_ref[ref])
  end
  return clusters
end

-- namespace/cluster-name -> candidate kubeconfig Secrets. Keyed by namespace too: seed
-- 000 keyed by cluster name only, so same-named Clusters got each other's credentials.
local function index_kubeconfig_secrets(objects)
  local index = {}
  local seen = {}
  for _, obj in ipairs(objects) do
    local cluster_name = labels_of(obj)[CONFIG.capiClusterNameLabel]
    if obj.kind == "Secret" and nonempty(cluster_name) and ends_with(name_of(obj), KUBECONFIG_SUFFIX)
        and not seen[ref_of(obj)] then
      seen[ref_of(obj)] = true
      local key = namespace_of(obj) .. "/" .. cluster_name
      index[key] = index[key] or {}
      table.insert(index[key], obj)
    end
  end
  return index
end

-- Settings.receives_credentials: named (or "*"), or matched by every pair of the selector.
local function receives_credentials(namespace)
  if contains(CONFIG.consumerNamespaces, CONFIG.any) or contains(CONFIG.consumerNamespaces, name_of(namespace)) then
    return true
  end
  local labels = labels_of(namespace)
  local selector_keys = sorted_keys(CONFIG.consumerNamespaceSelector)
  for _, key in ipairs(selector_keys) do
    if labels[key] ~= CONFIG.consumerNamespaceSelector[key] then
      return false
    end
  end
  return #selector_keys > 0
end

-- The consumer Namespaces stack config routes credentials to (sorted), and ClusterSet
-- name -> the Namespaces claiming it. A labelled Namespace stack config does not route
-- to is named in a note.
local function collect_namespaces(objects, notes)
  local consumers = {}
  local refused = {}
  local set_claims = {}
  for _, obj in ipairs(objects) do
    if obj.kind == "Namespace" then
      local labels = labels_of(obj)
      if labels[CONFIG.consumerNamespaceLabel] ~= nil then
        if receives_credentials(obj) then
          consumers[name_of(obj)] = true
        else
          refused[name_of(obj)] = true
        end
      end
      for _, key in ipairs(CONFIG.clusterSetNamespaceLabels) do
        local set_name = labels[key]
        if nonempty(set_name) then
          set_claims[set_name] = set_claims[set_name] or {}
          set_claims[set_name][name_of(obj)] = true
        end
      end
    end
  end
  for _, name in ipairs(sorted_keys(refused)) do
    table.insert(notes, "Namespace " .. name .. " skipped: it carries " .. CONFIG.consumerNamespaceLabel
      .. " but stack config routes no credentials to it (consumerNamespaces, consumerNamespaceSelector)")
  end
  return sorted_keys(consumers), set_claims
end

-- Settings.may_place: a Cluster of `cluster_namespace` may name `profile_namespace` as cpNs.
local function may_place(cluster_namespace, profile_namespace)
  return profile_namespace == cluster_namespace
    or routed(CONFIG.clusterPlacementRoutes, cluster_namespace, profile_namespace)
end

-- ClusterSet claims by several Namespaces, noted once per set (seed 000 took whichever
-- came first in list order; here each Cluster takes the first it may place in).
local function note_contested_sets(set_claims, notes)
  for _, set_name in ipairs(sorted_keys(set_claims)) do
    local claimants = sorted_keys(set_claims[set_name])
    if #claimants > 1 then
      table.insert(notes, "ClusterSet " .. set_name .. " is claimed by Namespaces "
        .. table.concat(claimants, ", ") .. "; each Cluster uses the first of them it may place in"
        .. " (its own namespace or clusterPlacementRoutes)")
    end
  end
end

-- cpNs and where it came from: the Cluster's own label, else the lexicographically first
-- Namespace claiming its ClusterSet that it may place in, else the default.
local function profile_namespace(cluster, set_claims)
  local labels = labels_of(cluster)
  if nonempty(labels[CONFIG.clusterProfileNamespaceLabel]) then
    return labels[CONFIG.clusterProfileNamespaceLabel], "its label " .. CONFIG.clusterProfileNamespaceLabel
  end
  local set_name = labels[CONFIG.clusterSetLabel]
  if nonempty(set_name) and set_claims[set_name] ~= nil then
    for _, claimant in ipairs(sorted_keys(set_claims[set_name])) do
      if may_place(namespace_of(cluster), claimant) then
        return claimant, "ClusterSet " .. set_name
      end
    end
  end
  return CONFIG.defaultProfileNamespace, "defaultProfileNamespace"
end

-- The Cluster's push Secret identity, or nil (and a note) when its names are unusable.
local function push_target(cluster, set_claims, notes)
  local profile_name = labels_of(cluster)[CONFIG.clusterProfileNameLabel]
  local profile_ns, placed_by = profile_namespace(cluster, set_claims)
  if not may_place(namespace_of(cluster), profile_ns) then
    table.insert(notes, "Cluster " .. ref_of(cluster) .. " skipped: " .. placed_by .. " places it in namespace "
      .. profile_ns .. ", which clusterPlacementRoutes does not allow for namespace " .. namespace_of(cluster))
    return nil
  end
  local secret_name = profile_ns .. "-" .. profile_name .. KUBECONFIG_SUFFIX
  local problems = {}
  for _, pair in ipairs({{CONFIG.profileLabel, profile_name}, {CONFIG.profileNamespaceLabel, profile_ns}}) do
    if not is_label_value(pair[2]) then
      table.insert(problems, "label " .. pair[1] .. " value '" .. pair[2] .. "' is not a valid label value")
    end
  end
  local problem = name_problem(secret_name)
  if problem ~= nil then
    table.insert(problems, "push Secret " .. problem)
  end
  if #problems > 0 then
    table.insert(notes, "Cluster " .. ref_of(cluster) .. " skipped: " .. table.concat(problems, "; "))
    return nil
  end
  return {cluster = cluster, profile_name = profile_name, profile_ns = profile_ns, secret_name = secret_name}
end

-- A target whose cpNs is its Cluster's own namespace: that Cluster needs no route for it.
local function at_home(target)
  return target.profile_ns == namespace_of(target.cluster)
end

-- Targets whose Secret name no other Cluster claims. On a clash the one claimant whose
-- cpNs is its own namespace wins over claimants from elsewhere, so a route into a
-- namespace never lets a Cluster of another namespace displace that namespace's own;
-- otherwise every claimant is dropped. Checked before kubeconfigs are looked at, as in
-- direct mode.
local function without_clashes(targets, notes)
  local by_name = {}
  for _, target in ipairs(targets) do
    by_name[target.secret_name] = by_name[target.secret_name] or {}
    table.insert(by_name[target.secret_name], target)
  end
  local kept = {}
  for _, target in ipairs(targets) do
    local claimants = by_name[target.secret_name]
    local home = {}
    for _, claimant in ipairs(claimants) do
      if at_home(claimant) then
        table.insert(home, claimant)
      end
    end
    if #claimants == 1 or (#home == 1 and home[1] == target) then
      table.insert(kept, target)
    elseif #home == 1 then
      table.insert(notes, "Cluster " .. ref_of(target.cluster) .. " skipped: push Secret name "
        .. target.secret_name .. " belongs to Cluster " .. ref_of(home[1].cluster)
        .. ", whose own namespace it names")
    else
      local others = {}
      for _, other in ipairs(claimants) do
        if other ~= target then
          table.insert(others, "Cluster " .. ref_of(other.cluster))
        end
      end
      table.insert(notes, "Cluster " .. ref_of(target.cluster) .. " skipped: push Secret name "
        .. target.secret_name .. " is also claimed by " .. table.concat(others, ", ")
        .. "; neither is written")
    end
  end
  return kept
end

-- The kubeconfig Secret of `cluster` (CAPI's "<cluster>-kubeconfig" first; any other
-- single candidate otherwise) and the data key holding its kubeconfig, or nil and a note.
local function capi_kubeconfig(cluster, secrets_index, notes)
  local skip = "Cluster " .. ref_of(cluster) .. " skipped: "
  local usable = {}
  for _, secret in ipairs(secrets_index[ref_of(cluster)] or {}) do
    if secret.type == CAPI_KUBECONFIG_TYPE then
      table.insert(usable, secret)
    end
  end
  if #usable == 0 then
    table.insert(notes, skip .. "no kubeconfig Secret in namespace " .. namespace_of(cluster)
      .. " (labelled " .. CONFIG.capiClusterNameLabel .. "=" .. name_of(cluster)
      .. ", named *" .. KUBECONFIG_SUFFIX .. ", type " .. CAPI_KUBECONFIG_TYPE .. ")")
    return nil
  end
  local secret = nil
  for _, candidate in ipairs(usable) do
    if name_of(candidate) == name_of(cluster) .. KUBECONFIG_SUFFIX then
      secret = candidate
    end
  end
  if secret == nil and #usable > 1 then
    local names = {}
    for _, candidate in ipairs(usable) do
      table.insert(names, name_of(candidate))
    end
    table.sort(names)
    table.insert(notes, skip .. "several kubeconfig Secrets labelled " .. CONFIG.capiClusterNameLabel
      .. "=" .. name_of(cluster) .. ": " .. table.concat(names, ", "))
    return nil
  end
  secret = secret or usable[1]
  local data = secret.data or {}
  for _, key in ipairs(CAPI_KUBECONFIG_KEYS) do
    if data[key] ~= nil then
      local problem = kubeconfig_problem(data[key], namespace_of(secret))
      if problem ~= nil then
        table.insert(notes, skip .. "kubeconfig Secret " .. ref_of(secret) .. " key " .. key .. ": " .. problem)
        return nil
      end
      return secret, key
    end
  end
  table.insert(notes, skip .. "kubeconfig Secret " .. ref_of(secret) .. " has no data key "
    .. table.concat(CAPI_KUBECONFIG_KEYS, " or "))
  return nil
end

local function target_resource(target, kubeconfig_secret, kubeconfig_key, consumer)
  return {
    apiVersion = CONFIG.targetApiVersion,
    kind = CONFIG.targetKind,
    metadata = {name = target_name(target.secret_name), namespace = consumer},
    spec = {
      clusterNamespace = namespace_of(target.cluster),
      clusterName = name_of(target.cluster),
      profileName = target.profile_name,
      profileNamespace = target.profile_ns,
      secretName = target.secret_name,
      secretNamespace = consumer,
      kubeconfigSecretName = name_of(kubeconfig_secret),
      kubeconfigSecretNamespace = namespace_of(kubeconfig_secret),
      kubeconfigKey = kubeconfig_key,
      staticOnly = not trusted_kubeconfig_source(namespace_of(kubeconfig_secret)),
    },
  }
end

function evaluate()
  local objects = resources or {}
  local notes = {}
  local consumers, set_claims = collect_namespaces(objects, notes)
  note_contested_sets(set_claims, notes)
  local secrets_index = index_kubeconfig_secrets(objects)

  local targets = {}
  for _, cluster in ipairs(collect_clusters(objects)) do
    local target = push_target(cluster, set_claims, notes)
    if target ~= nil then
      table.insert(targets, target)
    end
  end

  local prepared = {}
  local sources = {}
  for _, target in ipairs(without_clashes(targets, notes)) do
    local secret, key = capi_kubeconfig(target.cluster, secrets_index, notes)
    if secret ~= nil then
      sources[ref_of(secret)] = ref_of(target.cluster)
      table.insert(prepared, {target = target, secret = secret, key = key})
    end
  end
  table.sort(prepared, function(a, b) return a.target.secret_name < b.target.secret_name end)

  local emitted = {}
  for _, consumer in ipairs(consumers) do
    for _, entry in ipairs(prepared) do
      local ref = consumer .. "/" .. entry.target.secret_name
      -- A push Secret must never overwrite the kubeconfig Secret a Cluster is read from.
      if sources[ref] ~= nil then
        table.insert(notes, "Cluster " .. ref_of(entry.target.cluster) .. " skipped: Secret " .. ref
          .. " would overwrite the kubeconfig Secret of Cluster " .. sources[ref])
      else
        table.insert(emitted, target_resource(entry.target, entry.secret, entry.key, consumer))
      end
    end
  end
  return aggregated_result(emitted, notes)
end
