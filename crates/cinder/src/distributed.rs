//! `mpiexec -n K cinder train …`: the processes of one data-parallel run.
//!
//! A process started by an MPI launcher (`mpiexec`, `mpirun`, Slurm's `srun`) finds it in its
//! environment. With the `mpi` feature it then joins `MPI_COMM_WORLD`; without it, more than
//! one process is refused (each would train a run of its own into the same folder).

use std::sync::Arc;

use cinder_algo::Communicator;
use cinder_algo::comm::single_process;

/// Variables MPI launchers set in each process (MPICH/Hydra, Intel MPI and Slurm's PMI-2,
/// Open MPI, PMIx as Slurm or Open MPI start it), world size first.
const SIZE_VARIABLES: [&str; 2] = ["PMI_SIZE", "OMPI_COMM_WORLD_SIZE"];
const RANK_VARIABLES: [&str; 3] = ["PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"];

/// Whether an MPI launcher started this process, and how many processes it started when it
/// says so.
pub fn launched() -> Option<Option<usize>> {
    let size = SIZE_VARIABLES
        .iter()
        .find_map(|v| std::env::var(v).ok()?.trim().parse().ok());
    let rank = RANK_VARIABLES.iter().any(|v| std::env::var_os(v).is_some());
    (size.is_some() || rank).then_some(size)
}

/// The processes of this run and, with MPI, what keeps MPI initialised (finalised on drop).
pub struct Ranks {
    comm: Arc<dyn Communicator>,
    #[cfg(feature = "mpi")]
    _universe: Option<mpi::environment::Universe>,
}

impl std::fmt::Debug for Ranks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ranks({:?})", self.comm)
    }
}

impl Ranks {
    /// One process.
    pub fn single() -> Self {
        Self {
            comm: single_process(),
            #[cfg(feature = "mpi")]
            _universe: None,
        }
    }

    /// The world of an MPI launch, or one process when not launched by one.
    ///
    /// # Errors
    /// A launch of several processes without the `mpi` feature; MPI without thread support.
    pub fn join() -> Result<Self, String> {
        let Some(size) = launched() else {
            return Ok(Self::single());
        };
        #[cfg(feature = "mpi")]
        {
            let _ = size;
            use mpi::Threading;
            let (universe, threading) = mpi::initialize_with_threading(Threading::Multiple)
                .ok_or("MPI was initialised already")?;
            if threading < Threading::Multiple {
                return Err(format!(
                    "this MPI library gives threading level {threading:?}; data-parallel \
                     training needs MPI_THREAD_MULTIPLE (MPICH and Open MPI builds of Debian \
                     have it)"
                ));
            }
            let world = universe.world();
            let comm: Arc<dyn Communicator> =
                Arc::new(cinder_algo::comm::MpiCommunicator::new(&world));
            Ok(Self {
                comm,
                _universe: Some(universe),
            })
        }
        #[cfg(not(feature = "mpi"))]
        {
            if let Some(size) = size.filter(|&n| n > 1) {
                return Err(format!(
                    "started as one of {size} MPI processes, but this cinder was built \
                     without the `mpi` feature: build it with `cargo build --release \
                     --features mpi` (needs Debian's mpich libmpich-dev libclang-dev; see \
                     docs/distributed.md)"
                ));
            }
            Ok(Self::single())
        }
    }

    /// The communicator.
    pub fn comm(&self) -> Arc<dyn Communicator> {
        self.comm.clone()
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    /// Number of processes.
    pub fn size(&self) -> usize {
        self.comm.size()
    }

    /// Ends every process after a failure on this one (its message is printed by the caller
    /// first); one process just returns.
    pub fn abort_others(&self, code: i32) {
        if self.size() > 1 {
            self.comm.abort(code);
        }
    }
}
