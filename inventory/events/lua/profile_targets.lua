-- aggregatedSelection of feature B's EventSources (SPEC section 3 B, Event Framework mode).
--
-- sveltos-agent sets the global `resources` to the ClusterProfiles and the Secrets
-- labelled with a ClusterProfile's name (seed 001) and calls evaluate(), which returns
-- one synthetic target per ClusterProfile that has usable credentials. Two EventSources
-- run this script and differ only in CONFIG.emit:
--   "sveltoscluster": targets carry what the SveltosCluster needs (name, labels,
--                     display name, Secret name and key), no credentials;
--   "kubeconfig":     targets carry the name of the Secret to write and of the labelled
--                     Secret to copy; addon-controller reads the labelled Secret when
--                     it deploys (the EventTrigger's templateResourceRefs), so no
--                     credential travels through the EventReport.
-- Both apply the same rules, so a SveltosCluster is registered exactly when its Secret
-- is written (seed 001 registered every ClusterProfile, with or without credentials).
--
-- The rules are direct mode's credential source 3 (inventory/plan_credentials.py,
-- _labelled_secret_credentials): the one Secret in the ClusterProfile's namespace
-- labelled with its name, not written by this program; its kubeconfig under the
-- configured key, else "config", else its only key; all its data is copied. Access
-- providers (kubeconfig-secretreader, exec plugins) need direct mode: Sveltos cannot
-- run them, and this script never reads a ClusterProfile's status, so no exec plugin
-- runs and no Secret outside the ClusterProfile's own namespace is read in events mode.
--
-- The trust rules of stack config (SPEC section 9), baked into CONFIG as data:
--   * the labelled Secret's kubeconfig carries static credentials only, unless its
--     namespace is in CONFIG.trustedKubeconfigNamespaces (common.lua, kubeconfig_problem);
--   * a ClusterProfile's labels reach its SveltosCluster only when CONFIG.sveltosClusterLabels
--     allows them, and never so that it matches CONFIG.managementClusterSelector
--     (inventory/plan/sveltos.py, carried_labels): Sveltos would treat a tenant's cluster as
--     the management cluster, deploying there what is meant for it (this mode's
--     credentials among them).

local PROFILE_GROUP_PREFIX = "multicluster.x-k8s.io/"
local SVELTOS_KUBECONFIG_SUFFIX = "-sveltos-kubeconfig"
local SEED_KUBECONFIG_KEY = "config"

local function collect_profiles(objects)
  local by_ref = {}
  for _, obj in ipairs(objects) do
    local api_version = obj.apiVersion or ""
    if obj.kind == "ClusterProfile" and string.sub(api_version, 1, #PROFILE_GROUP_PREFIX) == PROFILE_GROUP_PREFIX
        and namespace_selected(CONFIG.profileNamespaces, namespace_of(obj)) then
      by_ref[ref_of(obj)] = by_ref[ref_of(obj)] or obj
    end
  end
  local profiles = {}
  for _, ref in ipairs(sorted_keys(by_ref)) do
    table.insert(profiles, by_ref[ref])
  end
  return profiles
end

-- namespace/profile-name -> labelled Secrets, by name. This program's own Secrets carry
-- the label too (the push Secrets); reading one back as a source would keep a deleted
-- cluster's credentials alive.
local function index_labelled_secrets(objects)
  local by_ref = {}
  for _, obj in ipairs(objects) do
    local labels = labels_of(obj)
    if obj.kind == "Secret" and nonempty(labels[CONFIG.profileLabel])
        and labels[CONFIG.managedByLabel] ~= CONFIG.managedByValue then
      by_ref[ref_of(obj)] = obj
    end
  end
  local index = {}
  for _, ref in ipairs(sorted_keys(by_ref)) do
    local secret = by_ref[ref]
    local key = namespace_of(secret) .. "/" .. labels_of(secret)[CONFIG.profileLabel]
    index[key] = index[key] or {}
    table.insert(index[key], secret)
  end
  return index
end

-- The data key holding the kubeconfig: the configured one, else seed 001's, else the
-- only key; or nil and the reason.
local function kubeconfig_key(secret)
  local data = secret.data or {}
  for _, key in ipairs({CONFIG.kubeconfigKey, SEED_KUBECONFIG_KEY}) do
    if data[key] ~= nil then
      return key
    end
  end
  local keys = sorted_keys(data)
  if #keys == 1 then
    return keys[1]
  end
  if #keys == 0 then
    return nil, "Secret " .. ref_of(secret) .. " (labelled " .. CONFIG.profileLabel .. ") has no data"
  end
  return nil, "Secret " .. ref_of(secret) .. " has keys " .. table.concat(keys, ", ") .. ", none of them '"
    .. CONFIG.kubeconfigKey .. "' or '" .. SEED_KUBECONFIG_KEY .. "': cannot tell which holds the kubeconfig"
end

-- The labelled Secret and its kubeconfig key for `profile`, or nil and the reason.
local function labelled_credentials(profile, secrets_index)
  local label = CONFIG.profileLabel .. "=" .. name_of(profile)
  local candidates = secrets_index[ref_of(profile)] or {}
  if #candidates == 0 then
    return nil, nil, "no Secret labelled " .. label .. " in namespace " .. namespace_of(profile)
      .. " (access providers need direct mode)"
  end
  if #candidates > 1 then
    local names = {}
    for _, secret in ipairs(candidates) do
      table.insert(names, name_of(secret))
    end
    return nil, nil, "several Secrets labelled " .. label .. " in namespace " .. namespace_of(profile)
      .. " (" .. table.concat(names, ", ") .. "): label only one"
  end
  local secret = candidates[1]
  local key, key_problem = kubeconfig_key(secret)
  if key == nil then
    return nil, nil, key_problem
  end
  local problem = kubeconfig_problem(secret.data[key], namespace_of(secret))
  if problem ~= nil then
    return nil, nil, "Secret " .. ref_of(secret) .. " (labelled " .. label .. ") key " .. key .. ": " .. problem
  end
  return secret, key, nil
end

-- Settings.carries_sveltos_label: an allowed key, "*", or a prefix ending in "*".
local function label_allowed(key)
  for _, pattern in ipairs(CONFIG.sveltosClusterLabels) do
    local prefix = string.sub(pattern, 1, #pattern - #CONFIG.any)
    if pattern == key or (ends_with(pattern, CONFIG.any) and string.sub(key, 1, #prefix) == prefix) then
      return true
    end
  end
  return false
end

-- The labels of `profile` its SveltosCluster carries: the allowed ones, less the
-- management cluster selector's when they would match it (named in a note).
local function carried_labels(profile, notes)
  local carried = {}
  local labels = labels_of(profile)
  for _, key in ipairs(sorted_keys(labels)) do
    if label_allowed(key) then
      carried[key] = labels[key]
    end
  end
  local selector_keys = sorted_keys(CONFIG.managementClusterSelector)
  local matches = #selector_keys > 0
  for _, key in ipairs(selector_keys) do
    if carried[key] ~= CONFIG.managementClusterSelector[key] then
      matches = false
    end
  end
  if matches then
    local pairs_text = {}
    for _, key in ipairs(selector_keys) do
      carried[key] = nil
      table.insert(pairs_text, key .. "=" .. CONFIG.managementClusterSelector[key])
    end
    table.insert(notes, "ClusterProfile " .. ref_of(profile) .. ": label " .. table.concat(pairs_text, ", ")
      .. " not carried onto its SveltosCluster: it would match managementClusterSelector")
  end
  return carried
end

local function target_resource(profile, secret_name, secret, key, notes)
  local spec = {
    name = name_of(profile),
    namespace = namespace_of(profile),
    secretName = secret_name,
    kubeconfigKey = key,
  }
  if CONFIG.emit == "kubeconfig" then
    spec.sourceSecretName = name_of(secret)
    spec.sourceSecretNamespace = namespace_of(secret)
    spec.staticOnly = not trusted_kubeconfig_source(namespace_of(secret))
  else
    spec.labels = carried_labels(profile, notes)
    spec.displayName = (profile.spec or {}).displayName or ""
  end
  return {
    apiVersion = CONFIG.targetApiVersion,
    kind = CONFIG.targetKind,
    metadata = {name = target_name(name_of(profile)), namespace = namespace_of(profile)},
    spec = spec,
  }
end

function evaluate()
  local objects = resources or {}
  local notes = {}
  local secrets_index = index_labelled_secrets(objects)
  local targets = {}
  for _, profile in ipairs(collect_profiles(objects)) do
    local skip = "ClusterProfile " .. ref_of(profile) .. " skipped: "
    local secret_name = name_of(profile) .. SVELTOS_KUBECONFIG_SUFFIX
    local problem = name_problem(secret_name)
    if problem ~= nil then
      table.insert(notes, skip .. "kubeconfig Secret " .. problem)
    else
      local secret, key, reason = labelled_credentials(profile, secrets_index)
      if secret == nil then
        table.insert(notes, skip .. reason)
      else
        table.insert(targets, target_resource(profile, secret_name, secret, key, notes))
      end
    end
  end
  return aggregated_result(targets, notes)
end
