# bash completion for tandem(8). Installed as
# /usr/share/bash-completion/completions/tandem; test/unit/completion.test.ts
# loads it into a real bash and checks COMPREPLY.
#
# Node names (fence, fence-confirm, --node) come from the `node` lines of
# ha.cf in --dir (or /etc/ha.d), read the way Heartbeat reads them: '#'
# starts a comment, names are split at blanks and commas.

_tandem_nodes() {
    local dir=$1 line
    local -a w
    [[ -r $dir/ha.cf ]] || return 0
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%%#*}
        # read -a splits without pathname expansion (`stonith_host * ...`)
        IFS=$' \t,\r' read -ra w <<< "$line"
        [[ ${w[0]-} == node ]] || continue
        printf '%s\n' "${w[@]:1}"
    done < "$dir/ha.cf"
}

_tandem() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local commands="daemon status events standby takeover fence-confirm fence drbd-fence-peer drbd-split-brain check export config lab version help"
    local cmd="" sub="" dir=/etc/ha.d i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --dir) dir=${words[i+1]:-$dir} ;;
            --dir=*) dir=${words[i]#--dir=} ;;
            -*) ;;
            *)
                if [[ -z $cmd ]]; then cmd=${words[i]}
                elif [[ -z $sub && ( $cmd == export || $cmd == config ) ]]; then sub=${words[i]}
                fi ;;
        esac
    done

    case $prev in
        --dir|--state-dir|--init-dir)
            COMPREPLY=($(compgen -d -- "$cur")); return ;;
        --socket)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --node|--peer)
            COMPREPLY=($(compgen -W "$(_tandem_nodes "$dir")" -- "$cur")); return ;;
        --action)
            COMPREPLY=($(compgen -W "off reboot" -- "$cur")); return ;;
        --to|--keepalive-ms|--deadtime-ms|--interval-ms|--count|--since|--limit|--timeout)
            return ;;
    esac

    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
        return
    fi

    local opts="" words_here=""
    case $cmd in
        daemon) opts="--dir --state-dir --socket --node --init-dir" ;;
        status) opts="--socket --json --watch --interval-ms --count --schema" ;;
        events) opts="--follow --json --since --limit --socket --state-dir" ;;
        drbd-fence-peer) opts="--peer --socket --timeout" ;;
        drbd-split-brain) opts="--socket" ;;
        standby|takeover) opts="--socket"; words_here="all local foreign none" ;;
        fence-confirm) opts="--socket"; words_here=$(_tandem_nodes "$dir") ;;
        fence) opts="--action --dir"; words_here=$(_tandem_nodes "$dir") ;;
        check) opts="--dir --node" ;;
        export)
            if [[ -z $sub ]]; then words_here="pacemaker"; else opts="--dir"; fi ;;
        config)
            if [[ -z $sub ]]; then words_here="push"; else opts="--dir --to --node --yes"; fi ;;
        lab) opts="--keepalive-ms --deadtime-ms" ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$words_here" -- "$cur"))
    fi
}

complete -F _tandem tandem
